import { BlockList, isIP } from 'node:net';

/** One `allow_hosts` entry, parsed. */
export interface HostRule {
  /** Exact host, `*.suffix`, or null for a CIDR rule. */
  host: string | null;
  wildcard: boolean;
  cidr: BlockList | null;
  port: number | null;
  text: string;
}

export function defaultPort(protocol: string): number | null {
  return protocol === 'https:' || protocol === 'wss:' ? 443 : protocol === 'http:' || protocol === 'ws:' ? 80 : null;
}

/** `host`, `host:port`, `*.example.com`, `10.0.0.0/8`, `[::1]:8080`, `*` (anything). */
export function parseHostRule(text: string): HostRule | string {
  const t = text.trim().toLowerCase();
  if (t === '*') return { host: '*', wildcard: true, cidr: null, port: null, text };
  const slash = t.indexOf('/');
  if (slash > 0) {
    const [net, bits] = [t.slice(0, slash), Number(t.slice(slash + 1))];
    const type = isIP(net);
    if (!type || !Number.isInteger(bits) || bits < 0 || bits > (type === 4 ? 32 : 128)) return `"${text}" is not a CIDR range such as 10.0.0.0/8`;
    const cidr = new BlockList();
    cidr.addSubnet(net, bits, type === 4 ? 'ipv4' : 'ipv6');
    return { host: null, wildcard: false, cidr, port: null, text };
  }
  let host = t;
  let port: number | null = null;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  if (bracket) {
    host = bracket[1];
    port = bracket[2] ? Number(bracket[2]) : null;
  } else if (!isIP(t) && t.includes(':')) {
    const i = t.lastIndexOf(':');
    host = t.slice(0, i);
    port = Number(t.slice(i + 1));
  }
  if (port !== null && (!Number.isInteger(port) || port < 1 || port > 65535)) return `"${text}" has no valid port`;
  const wildcard = host.startsWith('*.');
  if (!/^(\*\.)?[a-z0-9.:_-]+$/.test(host)) return `"${text}" is not a host name, IP address or CIDR range`;
  return { host: wildcard ? host.slice(2) : host, wildcard, cidr: null, port, text };
}

