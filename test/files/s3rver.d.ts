/** The little of s3rver (devDependency, no types of its own) the S3 tests use. */
declare module 's3rver' {
  export default class S3rver {
    constructor(opts: { port: number; address?: string; silent?: boolean; directory: string; configureBuckets?: { name: string; configs: unknown[] }[] });
    run(): Promise<unknown>;
    close(): Promise<void>;
  }
}
