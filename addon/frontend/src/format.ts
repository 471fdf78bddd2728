// Number formats as Home Assistant shows the same figures: a fixed number of decimals (the
// integration's display precision), `%` without a space, and sizes in the binary unit that fits.
// The schema lets a nullable member be left out, so `== null` takes both: not measured.

const fixed = (v: number, digits: number) =>
  v.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export const num = (v: number, digits = 1) => v.toLocaleString('en', { maximumFractionDigits: digits });

/** 63.1% — one decimal, as HA shows the availability, CPU and memory percentages. */
export const pct = (v?: number | null) => (v == null ? null : `${fixed(v, 1)}%`);

/** Milliseconds with one decimal. */
export const ms = (v?: number | null) => (v == null ? null : `${fixed(v, 1)} ms`);

/** Signed MiB per hour with two decimals, as HA shows the memory growth. */
export const mibPerHour = (v?: number | null) => (v == null ? null : `${v > 0 ? '+' : ''}${fixed(v, 2)} MiB/h`);

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'];

/** Bytes in the largest binary unit that keeps the figure at 1 or more: 512 B, 40.0 KiB, 61.2 MiB. */
export function size(bytes?: number | null): string | null {
  if (bytes == null) return null;
  if (Math.abs(bytes) < 1024) return `${Math.round(bytes)} B`;
  let v = bytes / 1024;
  let unit = 0;
  // Move up while the figure would read 1024.0 or more once rounded.
  while (unit < UNITS.length - 1 && Math.abs(v) >= 1023.95) {
    v /= 1024;
    unit += 1;
  }
  return `${fixed(v, 1)} ${UNITS[unit]}`;
}

/** 2 d 3 h · 4 h 12 min · 5 min 3 s · 42 s */
export function duration(s: number): string {
  const d = Math.floor(s / 86400);
  const hrs = Math.floor((s % 86400) / 3600);
  const min = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${hrs} h`;
  if (hrs) return `${hrs} h ${min} min`;
  if (min) return `${min} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(s)} s`;
}

export const when = (iso?: string | null) => (iso ? new Date(iso).toLocaleString() : null);
