export { restoreS3, type S3RestoreOptions } from './restore.ts';
export { DEFAULT_UPLOAD_LIMITS, readParts, uploadObject, type UploadLimits, type UploadRequest } from './upload.ts';
export { verifyBucket, type VerifyTarget } from './verify.ts';
