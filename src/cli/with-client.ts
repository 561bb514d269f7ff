/**
 * The one way CLI commands open and close a client, and turn what goes wrong into an exit code (DESIGN.md): 3 when
 * Temporal cannot be reached, 2 for bad input or a bad key configuration, 1 when the workflow failed.
 * @module
 */
import pc from 'picocolors';
import {
  createKubeWorkflowsClient,
  type KubeWorkflowsClient,
  type KubeWorkflowsClientOptions,
} from '../client/index.js';
import { ExitCode, exitCodeForError, messageOf } from './exit-codes.js';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Runs `fn` with a connected client (closed afterwards; built with `options`) and resolves to the exit code. */
export async function withClient(
  fn: (client: KubeWorkflowsClient) => Promise<number>,
  options: KubeWorkflowsClientOptions = {},
): Promise<number> {
  let client: KubeWorkflowsClient;
  try {
    client = await createKubeWorkflowsClient(options);
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'EncryptionConfigError' || name === 'ClientConfigError') {
      log(
        pc.red(`${name === 'EncryptionConfigError' ? 'encryption configuration' : 'configuration'}: ${messageOf(err)}`),
      );
      return ExitCode.BadInput;
    }
    log(pc.red(`cannot reach Temporal at ${process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233'}: ${messageOf(err)}`));
    return ExitCode.Unreachable;
  }
  try {
    return await fn(client);
  } catch (err) {
    // Exit 2 covers refusals by the workflow too (a policy violation, a held lock): nothing was written.
    const code = exitCodeForError(err);
    log(pc.red(`${code === ExitCode.BadInput ? 'rejected before anything ran' : 'failed'}: ${messageOf(err)}`));
    return code;
  } finally {
    await client.close();
  }
}
