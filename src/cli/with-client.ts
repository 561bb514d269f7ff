/**
 * The one way CLI commands open and close a client, and turn what goes wrong into an exit code (DESIGN.md): 3 when
 * Temporal cannot be reached, 2 for bad input or a bad key configuration, 1 when the workflow failed.
 * @module
 */
import pc from 'picocolors';
import { createKubeWorkflowsClient, InvalidInputError, type KubeWorkflowsClient } from '../client/index.js';
import { ExitCode, exitCodeForError, messageOf } from './exit-codes.js';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Runs `fn` with a connected client (closed afterwards) and resolves to the exit code. */
export async function withClient(fn: (client: KubeWorkflowsClient) => Promise<number>): Promise<number> {
  let client: KubeWorkflowsClient;
  try {
    client = await createKubeWorkflowsClient();
  } catch (err) {
    if ((err as Error).name === 'EncryptionConfigError') {
      log(pc.red(`encryption configuration: ${messageOf(err)}`));
      return ExitCode.BadInput;
    }
    log(pc.red(`cannot reach Temporal at ${process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233'}: ${messageOf(err)}`));
    return ExitCode.Unreachable;
  }
  try {
    return await fn(client);
  } catch (err) {
    log(pc.red(`${err instanceof InvalidInputError ? 'rejected before anything ran' : 'failed'}: ${messageOf(err)}`));
    return exitCodeForError(err);
  } finally {
    await client.close();
  }
}
