/**
 * Keeps secrets out of logs. A Secret prints as a placeholder in JSON, string
 * conversion and util.inspect, and only reveal() returns the value.
 */
import { inspect } from 'node:util';

/** The text a secret shows in logs and JSON. */
export const REDACTED = '[redacted]';

/** A secret value, such as the repository password, that prints as `[redacted]`. */
export class Secret {
  readonly #value: string;
  /** Origin of the value, such as `BGAPP_BACKUP_PASSWORD_FILE`; safe to log. */
  readonly origin: string;

  constructor(value: string, origin: string) {
    this.#value = value;
    this.origin = origin;
  }

  /** Returns the secret value itself; pass it on, never log it. */
  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `Secret(${REDACTED}, from ${this.origin})`;
  }
}

/**
 * Defines `key` on `target` as a non-enumerable property, so JSON.stringify, pino
 * and util.inspect leave it out. An object spread or structuredClone drops it too,
 * so code that copies a source config must copy this key by name.
 */
export function defineHiddenProperty<T extends object>(target: T, key: string, value: string): T {
  Object.defineProperty(target, key, { value, enumerable: false, writable: false });
  return target;
}

/**
 * Reads a secret from a file and trims surrounding white space, as restic 0.14 does
 * with its --password-file, so one file serves both tools.
 */
export function secretFromText(text: string): string {
  return text.trim();
}
