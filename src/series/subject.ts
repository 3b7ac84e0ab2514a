import type { SubjectInfo } from './types.js';

const REPLY = /^\s*(re|fwd?|aw|sv|antw)\s*:\s*/i;

/**
 * What a list subject says: "[PATCH bpf-next v3 2/7] net: foo",
 * "[RFC PATCH net-next]", "Re: [PATCH v2 00/17] ...", "[PATCHv2]".
 */
export function parseSubject(raw: string): SubjectInfo {
  let s = raw.trim();
  let isReply = false;
  const info: SubjectInfo = {
    raw,
    isReply,
    isPatch: false,
    isRfc: false,
    isResend: false,
    version: 1,
    counter: null,
    total: null,
    treeTags: [],
    title: '',
  };
  for (;;) {
    const m = REPLY.exec(s);
    if (m) {
      isReply = true;
      s = s.slice(m[0].length);
      continue;
    }
    const group = /^\s*\[([^\]]*)\]\s*/.exec(s);
    if (!group) break;
    s = s.slice(group[0].length);
    for (const token of group[1]!.split(/[\s,]+/).filter(Boolean)) classify(token, info);
  }
  info.isReply = isReply;
  info.title = s.trim();
  return info;
}

function classify(token: string, info: SubjectInfo): void {
  const t = token.toLowerCase();
  let m: RegExpExecArray | null;
  if (t === 'patch') info.isPatch = true;
  else if ((m = /^patch-?v(\d+)$/.exec(t))) {
    info.isPatch = true;
    info.version = Number(m[1]);
  } else if (t === 'rfc') {
    info.isRfc = true;
    info.isPatch = true;
  } else if (t === 'resend') info.isResend = true;
  else if ((m = /^v(\d+)$/.exec(t))) info.version = Number(m[1]);
  else if ((m = /^(\d+)\/(\d+)$/.exec(t))) {
    info.counter = Number(m[1]);
    info.total = Number(m[2]);
  } else info.treeTags.push(t);
}
