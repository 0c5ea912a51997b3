import { createAppError } from '../errors/app-errors.ts';

export const keyNotFoundError = () => createAppError('keys.not_found', 404, 'No such access key.');
