/** Version of bgapp-backup, written into snapshots and manifests. */
export const TOOL_VERSION = '0.1.0';
