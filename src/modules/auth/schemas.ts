import { type Static, Type } from 'typebox';
import { Password, User } from '../users/schemas.js';
import { Nullable } from '../../http/schemas.js';

export const LoginBody = Type.Object(
  {
    login: Type.String({ minLength: 1, maxLength: 254, description: 'username or email' }),
    password: Type.String({ minLength: 1, maxLength: 200 }),
  },
  { additionalProperties: false },
);
export type LoginBody = Static<typeof LoginBody>;

export const SessionInfo = Type.Object({
  user: User,
  csrfToken: Type.String({ description: 'send as x-csrf-token on writes that use the session cookie' }),
});

export const PasswordChange = Type.Object(
  { currentPassword: Type.String({ minLength: 1, maxLength: 200 }), newPassword: Password },
  { additionalProperties: false },
);
export type PasswordChange = Static<typeof PasswordChange>;

export const TokenName = Type.String({ minLength: 1, maxLength: 60 });
export const ApiTokenSchema = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  prefix: Type.String({ description: 'first characters, to tell tokens apart' }),
  createdAt: Type.String({ format: 'date-time' }),
  lastUsedAt: Nullable(Type.String({ format: 'date-time' })),
});
export const NewToken = Type.Object({ name: TokenName }, { additionalProperties: false });
export const CreatedToken = Type.Object({
  token: Type.String({ description: 'shown once; store it now' }),
  record: ApiTokenSchema,
});
