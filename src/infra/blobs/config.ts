/** Configuration keys of file uploads and their blob store (issue 15); spread into src/config.ts. */
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const uploadConfigShape = {
  UPLOAD_STORE: z.enum(['disk', 's3']).default('disk')
    .describe('Where uploaded files are kept: disk (UPLOAD_DIR, one host) or s3 (any S3-compatible store; several API processes or hosts).'),
  UPLOAD_DIR: z.string().max(4096).optional()
    .describe('Directory of the disk store, laid out images/ documents/ files/ with unique names. Default: DATA_DIR/uploads.'),
  UPLOAD_MAX_BYTES: int(1, 1024 * 1024 * 1024 * 1024).default(25 * 1024 * 1024)
    .describe('Largest file accepted, in bytes (default 25 MB); larger → 413 file_too_large, nothing stored.'),
  UPLOAD_MAX_FILES: int(1, 1000).default(10).describe('Most files in one upload request; more → 413 too_many_files.'),
  UPLOAD_QUOTA_BYTES: int(0, Number.MAX_SAFE_INTEGER).default(1024 * 1024 * 1024)
    .describe('Total bytes of live files per user (default 1 GiB); an upload beyond it → 413 quota_exceeded. 0 = no quota.'),
  UPLOAD_LINK_MAX_SECONDS: int(60, 365 * 86400).default(7 * 86400)
    .describe('Longest lifetime of a share link (POST /api/v1/files/{id}/links expires_in).'),
  UPLOAD_LINK_SECRET: z.string().min(32).max(512).optional()
    .describe('Server secret (≥32 chars) signing share links (HMAC). Defaults to a key derived from PASSWORD_PEPPER.'),
  UPLOAD_ORPHAN_GRACE_SECONDS: int(1, 30 * 86400).default(3600)
    .describe('The blob sweeper removes a blob no live file claims only once it is older than this (an upload in flight has written its blob but not yet its event).'),
  UPLOAD_SWEEP_INTERVAL: int(1, 7 * 86400).default(600)
    .describe('Seconds between two sweeps of the blob store for blobs no live file claims (the worker\'s cleanup job; at most one sweep per interval across workers).'),
  S3_ENDPOINT: z.string().url().optional()
    .describe('S3-compatible endpoint, e.g. http://127.0.0.1:9000 (MinIO); unset for AWS S3. Path-style addressing is used when set.'),
  S3_BUCKET: z.string().max(255).optional().describe('Bucket of the s3 store (required with UPLOAD_STORE=s3).'),
  S3_REGION: z.string().max(64).default('us-east-1').describe('Region of the s3 store.'),
  S3_ACCESS_KEY_ID: z.string().max(256).optional()
    .describe('Access key id of the s3 store; unset: the AWS SDK\'s default credential chain (environment, profile, instance role).'),
  S3_SECRET_ACCESS_KEY: z.string().max(512).optional().describe('Secret access key of the s3 store (with S3_ACCESS_KEY_ID).'),
  S3_PREFIX: z.string().max(200).regex(/^([A-Za-z0-9._-]+\/)*$/, 'empty or path segments ending in /').default('')
    .describe('Key prefix inside the bucket (e.g. authledger/), so the bucket may hold other data.'),
};
