/**
 * The item names OneDrive and SharePoint reject (Microsoft support,
 * "Restrictions and limitations in OneDrive and SharePoint": invalid
 * characters, invalid file or folder names, and names ending in a space or
 * a period).
 */
import { GraphHttpError } from './graph-error.ts';

const INVALID_CHARACTERS = /["*:<>?/\\|]/;
const CONTROL_CHARACTERS = /[\u0000-\u001f]/;
const RESERVED_NAMES = new Set([
  '.lock',
  'con',
  'prn',
  'aux',
  'nul',
  'desktop.ini',
  ...[...'0123456789'].map((digit) => `com${digit}`),
  ...[...'0123456789'].map((digit) => `lpt${digit}`),
]);

/** Returns why OneDrive rejects `name`, or undefined when the name is allowed. */
export function nameProblem(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') {
    return 'is empty or a relative path step';
  }
  if (INVALID_CHARACTERS.test(name) || CONTROL_CHARACTERS.test(name)) {
    return 'contains a character OneDrive rejects (" * : < > ? / \\ | or a control character)';
  }
  if (name.startsWith(' ') || name.endsWith(' ') || name.endsWith('.')) {
    return 'starts or ends with a space, or ends with a period';
  }
  if (RESERVED_NAMES.has(name.toLowerCase())) {
    return 'is a reserved name';
  }
  if (name.startsWith('~$') || name.toLowerCase().includes('_vti_')) {
    return 'starts with "~$" or contains "_vti_"';
  }
  return undefined;
}

/**
 * Throws the 400 error Graph returns for a name it rejects.
 * NOTE: Graph's documentation names no error code for a rejected name, so
 * the inner code `invalidName` is a guess. A client should key on the 400
 * status and the top-level code `invalidRequest`.
 */
export function assertValidName(name: string): void {
  const problem = nameProblem(name);
  if (problem !== undefined) {
    throw new GraphHttpError(400, 'invalidRequest', `the name "${name}" ${problem}`, {
      innerCode: 'invalidName',
    });
  }
}
