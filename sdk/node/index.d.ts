// SPDX-License-Identifier: MIT
// Types of @hub/server (index.js).
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface ConnectOptions {
  /** Broker URL, e.g. mqtt://127.0.0.1:1883 (mqtts://, ws://, wss:// too). */
  url?: string;
  /** The service key's name (hubctl servicekey add NAME). */
  service: string;
  /** The service key. */
  key: string;
  /** hubd's base URL for sessions and the publish API (default http://127.0.0.1:8080; https:// too). */
  http?: string;
  /**
   * TLS (mqtts://, wss://, https://): the CA certificate(s), PEM, that the
   * hub's certificate must lead to, for the broker and hubd alike (default:
   * Node's own CAs). Verification is always on.
   */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Share calls with the other processes of this service (default true). */
  shared?: boolean;
  /** Handlers running at once in this process (default 64); the rest wait in order. */
  concurrency?: number;
}

/** Who is calling, as the hub stamped it (what Passport's req.user gives a Socket.IO app). */
export interface Context {
  user: string;
  displayName: string;
  role: 'admin' | 'user' | string;
  kind: 'user' | 'device' | string;
  service: string;
  /** Calls: the method called. */
  method?: string;
  /** Hooks: the room and event. */
  room?: string;
  event?: string;
}

export interface RoomEvent<T = unknown> {
  room: string;
  event: string;
  data: T;
  from: string;
  /** The Socket.IO arguments the event carries, binaries as Buffers (decodeArgs). */
  args?: unknown[];
}

export interface Verdict {
  accept: boolean;
  data?: unknown;
  reason?: string;
}

export interface PresenceNotice {
  room: string;
  user: string;
  online: number;
  reason?: 'clean' | 'network' | 'keepalive' | 'kicked' | 'logout' | 'expired' | string;
}

export interface SessionRequest {
  user: string;
  display_name?: string;
  create?: boolean;
  rooms?: { room: string; level: 'read' | 'write' | 'admin' }[];
}

export interface Session {
  sid: string;
  /** the MQTT token (its expiry never passes the session's) */
  token: string;
  /** the hub_sid cookie value for the app to set */
  cookie: string;
  expires_at: number;
  user: { username: string; display_name: string; role: string };
  /** true when this request created the user */
  created: boolean;
}

export interface CallAnswer {
  ok?: boolean;
  error?: string;
  message?: string;
  [k: string]: unknown;
}

export declare class Emitter {
  emit(event: string, data?: unknown, opts?: { qos?: 0 | 1 | 2; retain?: boolean }): Promise<void>;
  /** Socket.IO clients get emit(event, ...args); Buffers and typed arrays anywhere. */
  emitArgs(event: string, args: unknown[], opts?: { qos?: 0 | 1 | 2; retain?: boolean }): Promise<void>;
}

/** MQTT 5 Content Types of hub-bridge's argument encoding. */
export declare const CT_BINARY: 'application/octet-stream';
export declare const CT_ARGS: 'application/vnd.hub.args+json';
/** Socket.IO arguments as one MQTT payload, as hub-bridge encodes them. */
export declare function encodeArgs(args: unknown[]): { payload: Buffer; contentType?: string };
/** The Socket.IO arguments an MQTT payload stands for (binaries as Buffers). */
export declare function decodeArgs(
  payload: Buffer | Uint8Array | null | undefined,
  props?: { contentType?: string; payloadFormatIndicator?: boolean | number },
): unknown[];

export declare class Hub extends EventEmitter {
  readonly service: string;
  handle<T = unknown, R = unknown>(method: string, fn: (data: T, ctx: Context) => R | Promise<R>): this;
  hook(fn: (ev: RoomEvent, ctx: Context) => Verdict | boolean | void | Promise<Verdict | boolean | void>): this;
  hook(room: string, fn: (ev: RoomEvent, ctx: Context) => Verdict | boolean | void | Promise<Verdict | boolean | void>): this;
  to(room: string): Emitter;
  toUser(user: string): Emitter;
  on(event: 'joined' | 'left', fn: (n: PresenceNotice) => void): this;
  on(event: 'event', fn: (ev: RoomEvent) => void): this;
  on(event: 'connect' | 'disconnect', fn: () => void): this;
  on(event: 'error', fn: (e: Error) => void): this;
  onEvent(room: string, fn: (ev: RoomEvent) => void): this;
  members(room: string): Promise<string[]>;
  /** Resolves the service's answer, or {ok: false, error: 'unavailable' | 'timeout' | 'forbidden'}. */
  call(service: string, method: string, data?: unknown, opts?: { timeout?: number }): Promise<CallAnswer>;
  createSession(req: SessionRequest): Promise<Session>;
  endSession(sid: string): Promise<void>;
  publish(msg: { room?: string; user?: string; event: string; data?: unknown }): Promise<unknown>;
  close(opts?: { timeout?: number }): Promise<void>;
}

export declare class CallError extends Error {
  constructor(code: string, message?: string);
  code: string;
}

export declare function connect(opts: ConnectOptions): Promise<Hub>;
export declare function accept(data?: unknown): Verdict;
export declare function reject(reason?: string): Verdict;
export declare function validName(s: unknown): boolean;
export declare function validEvent(s: unknown): boolean;
export declare function parseTopic(topic: string):
  | { kind: 'call'; service: string; method: string; caller: string }
  | { kind: 'hook'; service: string; room: string; event: string; sender: string }
  | { kind: 'event'; room: string; event: string; sender: string }
  | { kind: 'sys'; room: string; notice: string }
  | { kind: 'presence'; room: string; user: string }
  | null;
export declare function contextOf(props: unknown, fallbackUser: string): Omit<Context, 'service'>;
export declare function signWebhook(secret: string, body: string | Buffer): string;
export declare function verifyWebhook(secret: string, body: string | Buffer, header: unknown): boolean;
export declare function webhookMiddleware(
  secret: string,
  opts?: { limit?: number },
): (req: IncomingMessage & { body?: unknown; rawBody?: Buffer }, res: ServerResponse, next: (err?: unknown) => void) => void;

declare const _default: {
  connect: typeof connect;
  accept: typeof accept;
  reject: typeof reject;
  CallError: typeof CallError;
  webhookMiddleware: typeof webhookMiddleware;
  verifyWebhook: typeof verifyWebhook;
  signWebhook: typeof signWebhook;
};
export default _default;
