// ESLint (flat config): the rules live in the `lint` workspace, which pins the TypeScript 5 that typescript-eslint needs.
import { config } from '@iscsi-initiator/lint';

export default config(import.meta.dirname);
