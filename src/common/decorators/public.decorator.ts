import { SetMetadata } from '@nestjs/common';

export const PUBLIC_ROUTE = 'auth:public';

/** No token needed (health, docs, metrics, JWKS). */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);
