import { createAppError } from '../errors/app-errors.ts';

export const emailTakenError = () => createAppError('accounts.email_taken', 409, 'An account with this email already exists.');
export const invalidEmailError = () => createAppError('accounts.invalid_email', 400, 'The email address is not valid.');
export const weakPasswordError = () => createAppError('accounts.weak_password', 400, 'Passwords must be at least 8 characters long.');
export const accountNotFoundError = () => createAppError('accounts.not_found', 404, 'No account with this email.');
