// `node --import ./test/shared/record_imports.mjs ...`: logs every resolved import (import_log_hooks.mjs).
import { register } from 'node:module';

register('./import_log_hooks.mjs', import.meta.url);
