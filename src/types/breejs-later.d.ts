/** The parts of @breejs/later (Bree's cron engine) the scheduler uses to compute fire times. */
declare module '@breejs/later' {
  interface ScheduleData {
    schedules: unknown[];
    exceptions: unknown[];
    error: number;
  }
  interface Schedule {
    next(count: number, start?: Date, end?: Date): Date[] | Date | 0;
    prev(count: number, start?: Date, end?: Date): Date[] | Date | 0;
  }
  const later: {
    date: { localTime(): void; UTC(): void };
    parse: { cron(expr: string, hasSeconds?: boolean): ScheduleData };
    schedule(data: ScheduleData): Schedule;
  };
  export default later;
  export type { ScheduleData };
}
