/** Checks of repository file names and blob ids. */

const ID_PATTERN = /^[0-9a-f]{64}$/;

/** Tells whether a string is a full lower-case hex SHA-256 id. */
export function isId(name: string): boolean {
  return ID_PATTERN.test(name);
}
