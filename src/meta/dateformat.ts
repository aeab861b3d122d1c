/**
 * moment.js-style date formatting (English locale) in an IANA time zone, as used by
 * metadata-action's `{{date}}` / `{{commit_date}}` (moment-timezone there, Intl here).
 */

export class TimeZoneError extends Error {}

interface Wall {
  year: number;
  month: number; // 0-11
  day: number; // 1-31
  hour: number;
  minute: number;
  second: number;
  ms: number;
  dow: number; // 0 = Sunday
  offset: number; // minutes east of UTC
  epochMs: number;
  zone: string;
}

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const LOCALIZED: Record<string, string> = {
  LT: 'h:mm A',
  LTS: 'h:mm:ss A',
  L: 'MM/DD/YYYY',
  LL: 'MMMM D, YYYY',
  LLL: 'MMMM D, YYYY h:mm A',
  LLLL: 'dddd, MMMM D, YYYY h:mm A',
  l: 'M/D/YYYY',
  ll: 'MMM D, YYYY',
  lll: 'MMM D, YYYY h:mm A',
  llll: 'ddd, MMM D, YYYY h:mm A',
};

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
        era: 'short',
      });
    } catch {
      throw new TimeZoneError(`unknown time zone "${zone}"`);
    }
    formatters.set(zone, f);
  }
  return f;
}

/** Throws TimeZoneError unless `zone` is a time zone the runtime knows. */
export function checkTimeZone(zone: string): void {
  if (zone.trim() === '') throw new TimeZoneError('empty time zone');
  formatterFor(zone);
}

function wallClock(date: Date, zone: string): Wall {
  const parts: Record<string, string> = {};
  for (const p of formatterFor(zone).formatToParts(date)) parts[p.type] = p.value;
  let year = Number(parts.year);
  if (parts.era === 'BC' || parts.era === 'B') year = 1 - year;
  const month = Number(parts.month) - 1;
  const day = Number(parts.day);
  const hour = Number(parts.hour) % 24;
  const minute = Number(parts.minute);
  const second = Number(parts.second);
  const epochMs = date.getTime();
  const ms = ((epochMs % 1000) + 1000) % 1000;
  const asUtc = new Date(0);
  asUtc.setUTCFullYear(year, month, day);
  asUtc.setUTCHours(hour, minute, second, ms);
  const offset = Math.round((asUtc.getTime() - epochMs) / 60000);
  return { year, month, day, hour, minute, second, ms, dow: asUtc.getUTCDay(), offset, epochMs, zone };
}

function pad(n: number, width: number, forceSign = false): string {
  const abs = String(Math.abs(n)).padStart(width, '0');
  return (n >= 0 ? (forceSign ? '+' : '') : '-') + abs;
}

function ordinal(n: number): string {
  const tens = Math.floor((n % 100) / 10);
  const last = n % 10;
  const suffix = tens === 1 ? 'th' : last === 1 ? 'st' : last === 2 ? 'nd' : last === 3 ? 'rd' : 'th';
  return `${n}${suffix}`;
}

function utcDay(year: number, month: number, day: number): Date {
  const d = new Date(0);
  d.setUTCFullYear(year, month, day);
  return d;
}

function dayOfYear(w: Wall): number {
  return (
    Math.round((utcDay(w.year, w.month, w.day).getTime() - utcDay(w.year, 0, 1).getTime()) / 86400000) + 1
  );
}

function daysInYear(year: number): number {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 366 : 365;
}

/** Offset (0-based day of year, may be negative) where week 1 starts; weekStart 0=Sun, minDays rule via `doy`. */
function firstWeekOffset(year: number, weekStart: number, doy: number): number {
  const fwd = 7 + weekStart - doy;
  const fwdlw = (7 + utcDay(year, 0, fwd).getUTCDay() - weekStart) % 7;
  return -fwdlw + fwd - 1;
}

function weeksInYear(year: number, weekStart: number, doy: number): number {
  return (
    (daysInYear(year) - firstWeekOffset(year, weekStart, doy) + firstWeekOffset(year + 1, weekStart, doy)) / 7
  );
}

/** Week number and week-year; English locale weeks start Sunday (doy 6), ISO weeks Monday (doy 4). */
function week(w: Wall, weekStart: number, doy: number): { week: number; year: number } {
  const n = Math.floor((dayOfYear(w) - firstWeekOffset(w.year, weekStart, doy) - 1) / 7) + 1;
  if (n < 1) return { week: n + weeksInYear(w.year - 1, weekStart, doy), year: w.year - 1 };
  const inYear = weeksInYear(w.year, weekStart, doy);
  if (n > inYear) return { week: n - inYear, year: w.year + 1 };
  return { week: n, year: w.year };
}

function offsetString(offset: number, sep: string): string {
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `${sign}${pad(Math.floor(abs / 60), 2)}${sep}${pad(abs % 60, 2)}`;
}

function zoneAbbr(w: Wall): string {
  const name =
    new Intl.DateTimeFormat('en-US', { timeZone: w.zone, timeZoneName: 'short' })
      .formatToParts(new Date(w.epochMs))
      .find((p) => p.type === 'timeZoneName')?.value ?? '';
  const m = /^GMT([+-])(\d{1,2})(?::(\d{2}))?$/.exec(name);
  if (!m) return name;
  return `${m[1]}${m[2].padStart(2, '0')}${m[3] && m[3] !== '00' ? m[3] : ''}`;
}

type TokenFn = (w: Wall) => string;

const hour12 = (w: Wall): number => w.hour % 12 || 12;

const TOKENS: Record<string, TokenFn> = {
  M: (w) => String(w.month + 1),
  Mo: (w) => ordinal(w.month + 1),
  MM: (w) => pad(w.month + 1, 2),
  MMM: (w) => MONTHS[w.month].slice(0, 3),
  MMMM: (w) => MONTHS[w.month],
  Q: (w) => String(Math.floor(w.month / 3) + 1),
  Qo: (w) => ordinal(Math.floor(w.month / 3) + 1),
  D: (w) => String(w.day),
  Do: (w) => ordinal(w.day),
  DD: (w) => pad(w.day, 2),
  DDD: (w) => String(dayOfYear(w)),
  DDDo: (w) => ordinal(dayOfYear(w)),
  DDDD: (w) => pad(dayOfYear(w), 3),
  d: (w) => String(w.dow),
  do: (w) => ordinal(w.dow),
  dd: (w) => DAYS[w.dow].slice(0, 2),
  ddd: (w) => DAYS[w.dow].slice(0, 3),
  dddd: (w) => DAYS[w.dow],
  e: (w) => String(w.dow),
  E: (w) => String(w.dow || 7),
  w: (w) => String(week(w, 0, 6).week),
  wo: (w) => ordinal(week(w, 0, 6).week),
  ww: (w) => pad(week(w, 0, 6).week, 2),
  W: (w) => String(week(w, 1, 4).week),
  Wo: (w) => ordinal(week(w, 1, 4).week),
  WW: (w) => pad(week(w, 1, 4).week, 2),
  Y: (w) => (w.year <= 9999 ? pad(w.year, 4) : `+${w.year}`),
  YY: (w) => pad(((w.year % 100) + 100) % 100, 2),
  YYYY: (w) => pad(w.year, 4),
  YYYYY: (w) => pad(w.year, 5),
  YYYYYY: (w) => pad(w.year, 6, true),
  y: (w) => String(w.year),
  yo: (w) => ordinal(w.year),
  yy: (w) => pad(w.year, 2),
  yyy: (w) => pad(w.year, 3),
  yyyy: (w) => pad(w.year, 4),
  gg: (w) => pad(((week(w, 0, 6).year % 100) + 100) % 100, 2),
  gggg: (w) => pad(week(w, 0, 6).year, 4),
  ggggg: (w) => pad(week(w, 0, 6).year, 5),
  GG: (w) => pad(((week(w, 1, 4).year % 100) + 100) % 100, 2),
  GGGG: (w) => pad(week(w, 1, 4).year, 4),
  GGGGG: (w) => pad(week(w, 1, 4).year, 5),
  N: () => 'AD',
  NN: () => 'AD',
  NNN: () => 'AD',
  NNNN: () => 'Anno Domini',
  NNNNN: () => 'AD',
  a: (w) => (w.hour > 11 ? 'pm' : 'am'),
  A: (w) => (w.hour > 11 ? 'PM' : 'AM'),
  H: (w) => String(w.hour),
  HH: (w) => pad(w.hour, 2),
  h: (w) => String(hour12(w)),
  hh: (w) => pad(hour12(w), 2),
  k: (w) => String(w.hour || 24),
  kk: (w) => pad(w.hour || 24, 2),
  hmm: (w) => `${hour12(w)}${pad(w.minute, 2)}`,
  hmmss: (w) => `${hour12(w)}${pad(w.minute, 2)}${pad(w.second, 2)}`,
  Hmm: (w) => `${w.hour}${pad(w.minute, 2)}`,
  Hmmss: (w) => `${w.hour}${pad(w.minute, 2)}${pad(w.second, 2)}`,
  m: (w) => String(w.minute),
  mm: (w) => pad(w.minute, 2),
  s: (w) => String(w.second),
  ss: (w) => pad(w.second, 2),
  S: (w) => String(Math.floor(w.ms / 100)),
  SS: (w) => pad(Math.floor(w.ms / 10), 2),
  X: (w) => String(Math.floor(w.epochMs / 1000)),
  x: (w) => String(w.epochMs),
  z: zoneAbbr,
  zz: zoneAbbr,
  Z: (w) => offsetString(w.offset, ':'),
  ZZ: (w) => offsetString(w.offset, ''),
};
for (let n = 3; n <= 9; n++) {
  TOKENS['S'.repeat(n)] = (w) => pad(w.ms, 3) + '0'.repeat(n - 3);
}

// Longest alternatives first, as moment's tokenizer does; anything else is one literal character.
const TOKEN_RE =
  /(\[[^[]*\])|(\\)?([Hh]mm(?:ss)?|Mo|MM?M?M?|Do|DDDo|DD?D?D?|ddd?d?|do?|w[ow]?|W[oW]?|Qo?|N{1,5}|YYYYYY|YYYYY|YYYY|YY|y{2,4}|yo?|gg(?:ggg?)?|GG(?:GGG?)?|e|E|a|A|hh?|HH?|kk?|mm?|ss?|S{1,9}|x|X|zz?|ZZ?|[\s\S])/g;
const LOCALIZED_RE = /(\[[^[]*\])|(\\)?(LTS|LT|LL?L?L?|l{1,4})/g;

function expandLocalized(format: string): string {
  let out = format;
  for (let i = 0; i < 5; i++) {
    const next = out.replace(LOCALIZED_RE, (whole: string, _bracket: string, escape: string, tok: string) =>
      tok && !escape && LOCALIZED[tok] ? LOCALIZED[tok] : whole,
    );
    if (next === out) break;
    out = next;
  }
  return out;
}

/**
 * Format `date` in `zone` with a moment.js format string. An empty/absent format gives
 * moment's default ISO form (`...Z` when the offset is zero).
 */
export function formatMoment(date: Date, zone: string, format?: string): string {
  const w = wallClock(date, zone);
  const fmt = format
    ? expandLocalized(format)
    : w.offset === 0
      ? 'YYYY-MM-DDTHH:mm:ss[Z]'
      : 'YYYY-MM-DDTHH:mm:ssZ';
  let out = '';
  for (const m of fmt.matchAll(TOKEN_RE)) {
    const [whole, bracket, escape, tok] = m;
    if (bracket !== undefined) out += bracket.slice(1, -1);
    else if (escape === undefined && TOKENS[tok]) out += TOKENS[tok](w);
    else out += whole.replace(/\\/g, '');
  }
  return out;
}
