/** The dead-letter store of rejected records. */

export type { DeadLetter, DeadLetterStoreOptions, ReadDeadLettersOptions } from './store.ts';
export { DeadLetterStore, otlpJsonReplacer, readDeadLetters } from './store.ts';
