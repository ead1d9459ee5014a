// Errors in files the user gave us: always name the file and the byte offset, so they can act.
export class FormatError extends Error {
  constructor(message: string, readonly file?: string, readonly offset?: number) {
    super(file !== undefined ? `${file}${offset !== undefined ? ` at byte ${offset}` : ''}: ${message}` : message);
    this.name = 'FormatError';
  }
}
