import { type Static, Type } from 'typebox';
import { Paged, PageNumber } from '../../http/schemas.js';

export const LIMITS = {
  username: { min: 3, max: 32 },
  email: { max: 254 },
  password: { min: 8, max: 200 },
  displayName: { max: 80 },
  bio: { max: 1000 },
};

export const RoleSchema = Type.Union(
  [Type.Literal('reader'), Type.Literal('author'), Type.Literal('editor'), Type.Literal('admin')],
  { description: 'reader < author < editor < admin; each has every permission of the one before' },
);

export const Username = Type.String({
  minLength: LIMITS.username.min,
  maxLength: LIMITS.username.max,
  pattern: '^[A-Za-z0-9_-]+$',
  description: 'letters, digits, _ and -; stored lower-case',
});
export const Email = Type.String({ format: 'email', maxLength: LIMITS.email.max });
export const Password = Type.String({ minLength: LIMITS.password.min, maxLength: LIMITS.password.max });
export const DisplayName = Type.String({ minLength: 1, maxLength: LIMITS.displayName.max });
export const Bio = Type.String({ maxLength: LIMITS.bio.max });

export const User = Type.Object({
  id: Type.Integer(),
  username: Type.String(),
  displayName: Type.String(),
  bio: Type.String(),
  role: RoleSchema,
  createdAt: Type.String({ format: 'date-time' }),
  url: Type.String({ description: 'profile page path' }),
  email: Type.Optional(Type.String({ description: 'only shown to the user and to admins' })),
});
export type User = Static<typeof User>;

export const UserList = Paged(User);
export type UserList = Static<typeof UserList>;

export const NewUser = Type.Object(
  {
    username: Username,
    email: Email,
    password: Password,
    displayName: Type.Optional(DisplayName),
  },
  { additionalProperties: false },
);
export type NewUser = Static<typeof NewUser>;

export const ProfileUpdate = Type.Object(
  { displayName: Type.Optional(DisplayName), bio: Type.Optional(Bio) },
  { additionalProperties: false },
);
export type ProfileUpdate = Static<typeof ProfileUpdate>;

export const RoleUpdate = Type.Object({ role: RoleSchema }, { additionalProperties: false });
export const Pagination = Type.Object({
  page: PageNumber,
  perPage: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
});
