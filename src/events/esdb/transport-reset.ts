/**
 * The messages of a gRPC call that died with its HTTP/2 connection (the server, or something
 * between, reset the stream or closed the session; db-client reports it as UnknownError 13
 * "Received RST_STREAM ..."). Here without the client, so that src/http/problem.ts can match them
 * without loading it.
 */
export const isTransportResetMessage = (message: string): boolean =>
  /Received RST_STREAM|Session closed with error code|Connection dropped/i.test(message);
