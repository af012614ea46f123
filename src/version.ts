/** The server's version (OpenAPI `info.version`, `GET /`). */
export const VERSION = '0.1.0';
