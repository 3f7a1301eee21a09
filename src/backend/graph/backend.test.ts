import { runBackendConformance } from '../conformance.ts';
import { startGraphEmulator } from '../../../test/support/graph-emulator/index.ts';
import { GraphBackend } from './backend.ts';

runBackendConformance('GraphBackend', async () => {
  const emulator = await startGraphEmulator({ pageSize: 7 });
  const backend = new GraphBackend({
    getAccessToken: async () => emulator.token,
    baseUrl: emulator.baseUrl,
    simpleUploadMaxBytes: 64 * 1024,
    fragmentBytes: 320 * 1024,
  });
  await backend.create();
  return { backend, dispose: () => emulator.stop() };
});
