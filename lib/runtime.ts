import { Runtime } from 'aws-cdk-lib/aws-lambda';

/** The one Node.js runtime of every function (nodejs20.x is deprecated since 2026-04-30; cdk-nag L1 wants the newest). */
export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;
/** esbuild target matching LAMBDA_RUNTIME. */
export const ESBUILD_TARGET = 'node24';
