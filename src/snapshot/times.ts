/**
 * Times for utimes(2) and its variants. Node.js takes them as seconds in a
 * double and truncates the fraction to nanoseconds, so the seconds of
 * 12:00:00.100 come back as 12:00:00.099999904, a millisecond early.
 */

/**
 * Half a microsecond: more than the double's rounding error for times of
 * this era (about 0.24 microseconds), and far less than a millisecond.
 */
const NUDGE_SECONDS = 5e-7;

/**
 * Returns the seconds to pass to utimes for a time kept to the millisecond,
 * so that the file gets that millisecond (and under a microsecond more).
 */
export function utimesSeconds(time: Date | number): number {
  const millis = typeof time === 'number' ? time : time.getTime();
  return millis / 1000 + NUDGE_SECONDS;
}
