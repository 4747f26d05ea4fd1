/** Real local listeners for the probes: an HTTP server with switchable answers and a TCP port. */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';

export type HttpMode = { status: number; delayMs?: number };

export async function startHttp(routes: Record<string, HttpMode>): Promise<{ port: number; close: () => Promise<void>; routes: Record<string, HttpMode> }> {
  const server: Server = createHttpServer((req, res) => {
    const mode = routes[req.url ?? '/'] ?? { status: 404 };
    setTimeout(() => { res.writeHead(mode.status, { 'content-type': 'text/plain' }); res.end('ok'); }, mode.delayMs ?? 0);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    routes,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

export async function startTcp(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createTcpServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

/** A port that was free a moment ago: connections to it are refused. */
export async function closedPort(): Promise<number> {
  const { port, close } = await startTcp();
  await close();
  return port;
}
