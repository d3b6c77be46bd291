import net from 'node:net';

/**
 * Sends raw bytes to an HTTP server and returns everything it writes until it closes: for
 * requests fetch cannot make (repeated headers, no Host, bad request lines).
 */
export function sendRawHttp(baseUrl: string, bytes: string | Buffer): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(bytes));
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
  });
}

/** The JSON body of a raw HTTP answer. */
export function rawHttpBody(answer: string): unknown {
  return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
}
