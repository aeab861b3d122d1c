import { entry } from './main.js';
await entry();
