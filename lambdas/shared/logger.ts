import { Logger } from '@aws-lambda-powertools/logger';

/** The one logger of every function; POWERTOOLS_SERVICE_NAME names the function. */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'shipshape' });
