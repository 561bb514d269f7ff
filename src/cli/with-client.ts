/**
 * The one way CLI commands open and close a client, and turn what goes wrong into an exit code (DESIGN.md): 3 when
 * Temporal or the cluster cannot be reached, 2 for bad input or a bad configuration (keys, config file, TLS files),
 * 1 when the workflow failed. Every command that talks to Temporal goes through {@link withClient}.
 * @module
 */
import pc from 'picocolors';
import {
  createKubeWorkflowsClient,
  DEFAULT_TEMPORAL_ADDRESS,
  type KubeWorkflowsClient,
  type KubeWorkflowsClientOptions,
} from '../client/index.js';
import { ExitCode, exitCodeForError, messageOf } from './exit-codes.js';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** How the line on stderr starts, by exit code. */
const FAILURE_PREFIX: Record<ExitCode, string> = {
  [ExitCode.Ok]: 'done',
  [ExitCode.Failed]: 'failed',
  [ExitCode.BadInput]: 'rejected before anything ran',
  [ExitCode.Unreachable]: 'unreachable',
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
    const address = options.address ?? (process.env.TEMPORAL_ADDRESS || DEFAULT_TEMPORAL_ADDRESS);
    log(pc.red(`cannot reach Temporal at ${address}: ${messageOf(err)}`));
    return ExitCode.Unreachable;
  }
  try {
    return await fn(client);
  } catch (err) {
    // Exit 2 covers refusals by the workflow too (a policy violation, a held lock): nothing was written.
    const code = exitCodeForError(err);
    log(pc.red(`${FAILURE_PREFIX[code]}: ${messageOf(err)}`));
    return code;
  } finally {
    await client.close();
  }
}
