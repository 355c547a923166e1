// immukv: an immutable, tamper-evident key-value store that needs nothing
// but an S3 bucket. See README.md.

export { ImmuKVClient } from './client'
export type {
  CallOptions,
  Digest,
  Entry,
  FailureKind,
  GetOptions,
  PolicyDocument,
  Stats,
  StoreCheck,
  StoreCheckKind,
  StoreCheckStatus,
  StoreFinding,
  VerifyFailure,
  VerifyOptions,
  VerifyProgress,
  VerifyReport,
  RetentionHorizon,
  SetManyOptions,
  SetManyResult,
  WatchOptions,
  Watcher,
} from './client'
export type { Decoder, Encoder, JSONValue } from './codec'
export type { Config, Credentials, CredentialsProvider, MemoryOptions, MemoryScope, ObjectLock, Overrides, StoreOptions } from './config'
export { AbortedError, ERROR_CODES, ImmuKVError, KeyNotFoundError, ReadOnlyError } from './errors'
export type { ErrorCode } from './errors'
