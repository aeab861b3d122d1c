import { rm } from 'node:fs/promises';
import { messageOf } from './errors.js';
// The runner's protocol (inputs, masks, outputs, state, annotations, summary), as @actions/core speaks it.
import * as runner from '@actions/core';

/** One bundle serves main and post: the main step leaves a mark in the saved state. */
export async function entry(): Promise<void> {
  if (runner.getState('isPost') === 'true') await post();
  else await run();
}

export async function run(): Promise<void> {
  try {
    runner.saveState('isPost', 'true');
    // Loaded here, not at the top: the post step then starts without parsing the whole action.
    const { publish } = await import('./publish.js');
    await publish();
  } catch (err) {
    runner.setFailed(messageOf(err));
  }
}

/** Deletes the action's own Docker config, tokens and all. Warns, never fails. */
export async function post(): Promise<void> {
  const dir = runner.getState('configDir');
  if (!dir) return;
  if (runner.getState('logout') === 'false') {
    runner.info(`logout: false, the registry credentials stay in ${dir} until the runner cleans RUNNER_TEMP`);
    return;
  }
  try {
    await rm(dir, { recursive: true, force: true });
    runner.info('Removed the registry credentials of this step');
  } catch (err) {
    runner.warning(`Could not remove the registry credentials in ${dir}: ${messageOf(err)}`);
  }
}
