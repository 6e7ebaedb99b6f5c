/** The dead-letter store of rejected records. */
export { DeadLetterStore, otlpJsonReplacer, readDeadLetters } from './store.ts';
export type { DeadLetter, DeadLetterStoreOptions, ReadDeadLettersOptions } from './store.ts';
