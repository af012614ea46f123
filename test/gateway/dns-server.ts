/**
 * A small authoritative DNS server over UDP (RFC 1035 wire format) for the dns+srv:// tests: it
 * answers SRV and A records from tables the test changes at will; unknown names → NXDOMAIN, a
 * known name without records of the asked type → an empty NOERROR answer. Queries are counted.
 */
import dgram from 'node:dgram';

export interface SrvRecord { priority: number; weight: number; port: number; target: string }

export interface DnsServer {
  port: number;
  /** `ip:port`, for GATEWAY_DNS_SERVERS. */
  address: string;
  srv: Map<string, SrvRecord[]>;
  a: Map<string, string[]>;
  queries: { name: string; type: number }[];
  close(): Promise<void>;
}

const TYPE_A = 1;
const TYPE_SRV = 33;

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter(Boolean);
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'ascii')])), Buffer.from([0])]);
}

/** The question's name (no compression in questions), type and where the question ends. */
function readQuestion(msg: Buffer): { name: string; type: number; end: number } {
  let off = 12;
  const labels: string[] = [];
  while (msg[off]! !== 0) {
    const len = msg[off]!;
    labels.push(msg.subarray(off + 1, off + 1 + len).toString('ascii'));
    off += 1 + len;
  }
  off += 1;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(off), end: off + 4 };
}

function record(type: number, ttl: number, rdata: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(1, 4); // IN
  head.writeUInt32BE(ttl, 6);
  head.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, rdata]);
}

export async function startDnsServer(): Promise<DnsServer> {
  const sock = dgram.createSocket('udp4');
  const srv = new Map<string, SrvRecord[]>();
  const a = new Map<string, string[]>();
  const queries: { name: string; type: number }[] = [];
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 17) return;
    const q = readQuestion(msg);
    queries.push({ name: q.name, type: q.type });
    const answers: Buffer[] = [];
    if (q.type === TYPE_SRV) {
      for (const r of srv.get(q.name) ?? []) {
        const fixed = Buffer.alloc(6);
        fixed.writeUInt16BE(r.priority, 0);
        fixed.writeUInt16BE(r.weight, 2);
        fixed.writeUInt16BE(r.port, 4);
        answers.push(record(TYPE_SRV, 1, Buffer.concat([fixed, encodeName(r.target)])));
      }
    } else if (q.type === TYPE_A) {
      for (const ip of a.get(q.name) ?? []) answers.push(record(TYPE_A, 1, Buffer.from(ip.split('.').map(Number))));
    }
    const known = srv.has(q.name) || a.has(q.name);
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // the id
    const rd = msg[2]! & 0x01;
    header[2] = 0x80 | 0x04 | rd; // QR, AA, RD as asked
    header[3] = known ? 0x00 : 0x03; // NOERROR / NXDOMAIN
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    sock.send(Buffer.concat([header, msg.subarray(12, q.end), ...answers]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  const port = sock.address().port;
  return {
    port, address: `127.0.0.1:${port}`, srv, a, queries,
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}
