import { rm } from 'node:fs/promises';
import { leftCredentials, messageOf } from './errors.js';

/**
 * One bundle serves main and post: the main step leaves a mark in the saved state.
 *
 * The toolkit is loaded on demand, not at the top: @actions/core brings its HTTP client (and
 * undici) with it, about 40 ms of parsing here, and the usual post step has nothing to do, because
 * the main step removes its credentials itself. So the post step reads its two state values
 * straight from the environment, where the runner puts them (`STATE_<name>`, exactly what
 * core.getState reads), and loads @actions/core only when it has something to say.
 */
export async function entry(): Promise<void> {
  if (process.env.STATE_isPost === 'true') await post();
  else await run();
}

export async function run(): Promise<void> {
  const core = await import('@actions/core');
  try {
    core.saveState('isPost', 'true');
    // Loaded here, not at the top: the post step then starts without parsing the whole action.
    const { publish } = await import('./publish.js');
    await publish();
  } catch (err) {
    core.setFailed(messageOf(err));
  }
}

/**
 * Deletes the action's own Docker config, tokens and all, when the main step could not (it was
 * cancelled or killed before its end, or its removal failed). Fails when it cannot either: the
 * tokens would be left on the runner, and a warning is easy to miss.
 */
export async function post(): Promise<void> {
  const dir = process.env.STATE_configDir ?? '';
  if (!dir) return; // no login, or the main step removed it: nothing to load, nothing to say
  const core = await import('@actions/core');
  if (core.getState('logout') === 'false') {
    core.info(`logout: false, the registry credentials stay in ${dir} until the runner cleans RUNNER_TEMP`);
    return;
  }
  try {
    await rm(dir, { recursive: true, force: true });
    core.info('Removed the registry credentials of this step');
  } catch (err) {
    core.setFailed(leftCredentials(dir, err));
  }
}
