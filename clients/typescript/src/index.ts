export { PiiApiClient, type ApprovedCallOptions, type BudgetedCallOptions, type CallOptions, type PiiApiClientOptions } from './client';
export { PiiApiError, UNEXPECTED_RESPONSE, type ErrorCode } from './errors';
export { ciphertextKeyVersion, encryptLocally, KEY_ALGORITHMS, type KeyAlgorithm, type PublishedPublicKey } from './local-encryption';
export { PublicKeyCache, type PublicKeyCacheOptions, type PublicKeyInfo } from './public-key-cache';
export { isRepeatable, type RetryOptions } from './retry-policy';
export { REQUEST_ID_HEADER, type Fetch, type TokenSource } from './transport';
export type { components, operations, paths } from './generated/schema';
