/**
 * The series model: what ingest produces and every later stage consumes.
 * Everything here is plain JSON so it crosses the queue and the database
 * unchanged. Raw mail bytes travel base64-encoded because patches are not
 * guaranteed to be UTF-8.
 */

import type { Person } from '../mail/message.js';

/** A sender or recipient, as the mail parser reads it. */
export type { Person };

export interface Trailer {
  /** Canonical spelling, e.g. "Acked-by", "Reviewed-by", "Fixes", "Link". */
  key: string;
  /** For a person, normalised to "Name <address>" (or the bare address), HTML-mail junk removed. */
  value: string;
  /** Message-ID of the reply the trailer came from, or null when it is in the patch itself. */
  fromMessageId: string | null;
  /**
   * Where it came from: the patch itself; a reply to the patch; a reply to
   * the cover letter (it applies to every patch); a reply to the same patch
   * (same patch-id) in another version of the series. Absent in series
   * stored before provenance was kept.
   */
  via?: TrailerSource;
  /** For via 'earlier-version': the version of the patch that was answered. */
  fromVersion?: number;
}

export type TrailerSource = 'patch' | 'reply' | 'cover' | 'earlier-version';

/**
 * A trailer a reply gave that names someone other than the reply's sender
 * ("Acked-by: Maintainer" sent by a stranger): not applied, and reported.
 */
export interface MismatchedTrailer {
  key: string;
  value: string;
  fromMessageId: string;
  /** The reply's From, as "Name <address>". */
  sender: string;
  /** The patch it was given to, or the cover letter. */
  target: number | 'cover';
}

/** What a subject line says about the mail. */
export interface SubjectInfo {
  /** The decoded subject as sent. */
  raw: string;
  /** "Re:", "Fwd:", "Aw:" ... in front. */
  isReply: boolean;
  /** True when a bracket group holds PATCH (or the subject is a bare RFC). */
  isPatch: boolean;
  isRfc: boolean;
  isResend: boolean;
  /** 1 when no vN is given. */
  version: number;
  /** k of "k/n"; 0 for a cover letter; null when not numbered. */
  counter: number | null;
  /** n of "k/n"; null when not numbered. */
  total: number | null;
  /** Tokens that are not PATCH/RFC/RESEND/vN/k-n, lower-cased: tree tags such as "bpf-next". */
  treeTags: string[];
  /** The subject with every prefix removed: "net: fix foo". */
  title: string;
}

export interface DiffFile {
  /** Path before the change; null for a new file. */
  oldPath: string | null;
  /** Path after the change; null for a deleted file. */
  newPath: string | null;
  /** True for "GIT binary patch" or "Binary files ... differ". */
  binary: boolean;
  /** Octal mode of the new file when the patch sets one (120000 is a symlink). */
  newMode: string | null;
}

export interface Patch {
  /** Position in the series, 1-based. */
  counter: number;
  messageId: string;
  subject: SubjectInfo;
  author: Person;
  /** ISO 8601, or null when the Date header is missing or unparsable. */
  date: string | null;
  /** Trailers in the patch itself followed by those collected from replies. */
  trailers: Trailer[];
  files: DiffFile[];
  /** The whole original message, base64; this is what `git am` gets. */
  rawBase64: string;
}

export interface CoverLetter {
  messageId: string;
  subject: SubjectInfo;
  author: Person;
  date: string | null;
  /** Decoded text body (changelog, description). */
  body: string;
  /** Trailers collected from replies to the cover letter (they apply to every patch). */
  trailers: Trailer[];
}

export interface Series {
  /** Title of the cover letter, or of the only patch. */
  title: string;
  version: number;
  total: number;
  isRfc: boolean;
  isResend: boolean;
  treeTags: string[];
  author: Person;
  /** Message-ID a reply should thread on: the cover letter, else the first patch. */
  messageId: string;
  /** That message's own References (oldest first), so a reply keeps the whole thread's chain. */
  leadReferences?: string[];
  cover: CoverLetter | null;
  patches: Patch[];
  /** From a `base-commit:` line (cover letter first, then patches). */
  baseCommit: string | null;
  /** From b4's `change-id:` line, which links revisions sent in separate threads. */
  changeId: string | null;
  /** Reply trailers that were not applied because their sender is not the person they name. */
  mismatchedTrailers?: MismatchedTrailer[];
  /**
   * Set when the newest version resent only some patches in the thread of
   * the version before (b4's partial reroll): those counters were taken from it.
   */
  partialReroll?: { fromVersion: number; reused: number[] };
  /**
   * sha256 over the patches' diffs in order, whitespace-normalised like
   * `git patch-id --stable`: the same change resent gets the same fingerprint.
   */
  fingerprint: string;
}

/** Why a set of mails did not make a series; thrown as BadInputError with this attached. */
export interface IncompleteSeries {
  version: number;
  total: number;
  present: number[];
  missing: number[];
}
