/** Twisted's canonical header names that are not plain capitalisation (twisted.web.http_headers). */
const SPECIAL_CAPS: Record<string, string> = { 'content-md5': 'Content-MD5', dnt: 'DNT', etag: 'ETag', p3p: 'P3P', te: 'TE', 'www-authenticate': 'WWW-Authenticate', 'x-xss-protection': 'X-XSS-Protection' };

/** A header name as Twisted's `Headers` gives it back (`content-type` → `Content-Type`), from a lower-case name. */
export const canonical = (name: string): string => SPECIAL_CAPS[name] ?? name.replace(/(^|-)([a-z])/g, (_, d: string, c: string) => d + c.toUpperCase());
