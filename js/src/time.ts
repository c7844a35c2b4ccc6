/**
 * Time formatting and the one shared 1 s ticker of every view on the page.
 *
 * Cards carry epoch seconds (`since`, `ends_at`, `warn_at`, `expected_start`, `idle_ends_at`) on
 * the kernel's clock (or the Jupyter server's, for the Desktops panel), onto which the kernel has
 * already moved Slurm's and the job's times (it measures the cluster's clock from squeue's
 * answers). The counters compare them with that clock's "now" as this browser estimates it
 * (ServerClock): a browser whose own clock is off by minutes still counts down right.
 */

function pad(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/** 42s, 2m 13s, 1h 02m, 2d 03h. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) {
    return `${s}s`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  }
  return `${Math.floor(s / 86400)}d ${pad(Math.floor((s % 86400) / 3600))}h`;
}

/** A ready desktop nobody is connected to, whose job ends it at `endsAt` (its idle timeout). */
export function idleText(endsAt: number, now: number): string {
  const left = endsAt - now;
  return left > 0
    ? `Nobody connected: ends in ${formatDuration(left)} unless someone connects`
    : 'Nobody connected: ending now (idle timeout)';
}

/** 'for 2m 13s', or with the kernel's words for the state ('· waiting 58s'). */
export function elapsedText(since: number, now: number, label = 'for'): string {
  return `${label} ${formatDuration(now - since)}`;
}

export function leftText(endsAt: number, now: number): string {
  const left = endsAt - now;
  return left > 0 ? `${formatDuration(left)} left` : 'time limit reached';
}

/** How far off a start is, roughly (the kernel's desktop_cards.about says it the same way). */
export function aboutText(seconds: number): string {
  if (seconds < 30) {
    return 'any moment now';
  }
  const minutes = Math.max(1, Math.round(seconds / 60));
  if (minutes < 60) {
    return `in about ${minutes} min`;
  }
  if (minutes < 24 * 60) {
    const rounded = 5 * Math.round(minutes / 5);
    const [hours, rest] = [Math.floor(rounded / 60), rounded % 60];
    return rest ? `in about ${hours} h ${rest} min` : `in about ${hours} h`;
  }
  const days = Math.round(minutes / (24 * 60));
  return `in about ${days} day${days !== 1 ? 's' : ''}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function sameDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** A time of day in this browser's zone, '14:05', with its day when not today (desktop_cards.clock). */
export function clockText(at: number, now: number): string {
  const when = new Date(at * 1000);
  const hhmm = `${pad(when.getHours())}:${pad(when.getMinutes())}`;
  if (sameDay(when, new Date(now * 1000))) {
    return hhmm;
  }
  if (sameDay(when, new Date((now + 86400) * 1000))) {
    return `${hhmm} tomorrow`;
  }
  return `${hhmm} on ${when.getDate()} ${MONTHS[when.getMonth()]}`;
}

/** 'Slurm expects it to start in about 12 min, at 14:05', or the kernel's words alone. */
export function expectedText(label: string, start: number | null, now: number): string {
  return start === null ? label : `${label} ${aboutText(start - now)}, at ${clockText(start, now)}`;
}

/** Whether the time left is shown as a warning now: the kernel says from when (`warnAt`). */
export function warning(warnAt: number | null, now: number): boolean {
  return warnAt !== null && now >= warnAt;
}

type Tick = (now: number) => void;

const subscribers = new Set<Tick>();
let timer: number | undefined;

function run(): void {
  const now = Date.now() / 1000;
  for (const tick of subscribers) {
    try {
      tick(now);
    } catch (error) {
      console.error('dcv-widget: tick failed', error);
    }
  }
}

/** One interval for all views and cards; it stops when the last view goes away. */
export function onTick(tick: Tick): () => void {
  subscribers.add(tick);
  if (timer === undefined) {
    timer = window.setInterval(run, 1000);
  }
  return () => {
    subscribers.delete(tick);
    if (subscribers.size === 0 && timer !== undefined) {
      window.clearInterval(timer);
      timer = undefined;
    }
  };
}

export function nowSeconds(): number {
  return Date.now() / 1000;
}

/**
 * How far (seconds) the server's clock runs ahead of this browser's, from one reading: the server
 * said `serverNow` between `sentAt` and `receivedAt` (this browser's clock), taken as halfway.
 */
export function clockOffset(serverNow: number, sentAt: number, receivedAt: number): number {
  return serverNow - (sentAt + receivedAt) / 2;
}

/** A new reading replaces the offset in use only when further off than this (seconds): readings
 * to the second (an HTTP Date) would otherwise make the counters jump back and forth. */
export const CLOCK_TOLERANCE = 1.5;

/**
 * The clock the cards' times are on (the kernel's, or the Jupyter server's), as this browser
 * sees it: its own clock plus the offset measured from the server's answers. One per view, as
 * each view has its own server.
 */
export class ServerClock {
  private offset: number | null = null;

  /** Learn from one reading (see clockOffset); the first is always taken. */
  measure(serverNow: number, sentAt: number, receivedAt: number): void {
    const measured = clockOffset(serverNow, sentAt, receivedAt);
    if (this.offset === null || Math.abs(measured - this.offset) > CLOCK_TOLERANCE) {
      this.offset = measured;
    }
  }

  /** The server's "now" for this browser's `browserNow` (default: this moment). */
  now(browserNow: number = nowSeconds()): number {
    return browserNow + (this.offset ?? 0);
  }
}
