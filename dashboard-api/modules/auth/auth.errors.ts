import { createAppError } from '../../../src/errors/app-errors.ts';

/** One answer for an unknown email and a wrong password, so sign-in does not reveal which emails exist. */
export const invalidCredentialsError = () => createAppError('auth.invalid_credentials', 401, 'The email or password is incorrect.');
export const wrongPasswordError = () => createAppError('auth.invalid_credentials', 401, 'The current password is incorrect.');
export const accountDeactivatedError = () => createAppError('auth.account_deactivated', 403, 'This account has been deactivated. Contact the administrator.');
export const signupDisabledError = () => createAppError('auth.signup_disabled', 403, 'Sign-up is disabled on this server. Ask the administrator for an account.');
export const unauthenticatedError = () => createAppError('auth.unauthenticated', 401, 'Sign in first: this route needs a session.');
export const csrfError = () => createAppError('auth.csrf', 403, 'Cross-site request refused: state-changing requests must come from the dashboard origin (Origin header).');
