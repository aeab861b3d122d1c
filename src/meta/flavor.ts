import { InputError } from '../errors.js';
import { splitFields } from './list.js';

export interface Flavor {
  latest: 'auto' | 'true' | 'false';
  prefix: string;
  prefixLatest: boolean;
  suffix: string;
  suffixLatest: boolean;
  /** The flavor lines that set prefix/suffix, for error messages. */
  prefixLine: string;
  suffixLine: string;
}

export function parseFlavor(lines: string[]): Flavor {
  const flavor: Flavor = {
    latest: 'auto',
    prefix: '',
    prefixLatest: false,
    suffix: '',
    suffixLatest: false,
    prefixLine: '',
    suffixLine: '',
  };
  for (const line of lines) {
    let onlatestFor: '' | 'prefix' | 'suffix' = '';
    for (const field of splitFields('flavor', line)) {
      const parts = field.split('=').map((p) => p.trim());
      if (parts.length === 1) {
        throw new InputError(
          'flavor',
          line,
          `"${field}" is not key=value (latest=, prefix=, suffix=, onlatest=)`,
        );
      }
      // Only the text between the first and a second `=` counts, as upstream.
      const key = parts[0].toLowerCase();
      const value = parts[1];
      switch (key) {
        case 'latest':
          if (value !== 'auto' && value !== 'true' && value !== 'false') {
            throw new InputError('flavor', line, `latest must be auto, true or false, got "${value}"`);
          }
          flavor.latest = value;
          break;
        case 'prefix':
          flavor.prefix = value;
          flavor.prefixLine = line;
          onlatestFor = 'prefix';
          break;
        case 'suffix':
          flavor.suffix = value;
          flavor.suffixLine = line;
          onlatestFor = 'suffix';
          break;
        case 'onlatest':
          if (value !== 'true' && value !== 'false') {
            throw new InputError('flavor', line, `onlatest must be true or false, got "${value}"`);
          }
          if (onlatestFor === 'prefix') flavor.prefixLatest = value === 'true';
          if (onlatestFor === 'suffix') flavor.suffixLatest = value === 'true';
          break;
        default:
          throw new InputError(
            'flavor',
            line,
            `unknown flavor key "${key}" (latest, prefix, suffix, onlatest)`,
          );
      }
    }
  }
  return flavor;
}
