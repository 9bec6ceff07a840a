declare module 'jexl' {
  /** The parts of jexl 2.x we use (the package ships no types). */
  export interface JexlAst {
    type: string;
    [key: string]: unknown;
  }
  export interface JexlExpression {
    compile(): JexlExpression;
    evalSync(context?: Record<string, unknown>): unknown;
    _getAst(): JexlAst;
  }
  export class Jexl {
    constructor();
    compile(expression: string): JexlExpression;
    createExpression(expression: string): JexlExpression;
    evalSync(expression: string, context?: Record<string, unknown>): unknown;
    addTransform(name: string, fn: (value: unknown, ...args: unknown[]) => unknown): void;
    addFunction(name: string, fn: (...args: unknown[]) => unknown): void;
    addBinaryOp(operator: string, precedence: number, fn: (left: unknown, right: unknown) => unknown): void;
    addUnaryOp(operator: string, fn: (right: unknown) => unknown): void;
    removeOp(operator: string): void;
  }
  const jexl: Jexl & { Jexl: typeof Jexl };
  export default jexl;
}
