/** --log-format: "auto" is pretty on a terminal. Its own module so the command line can offer it without loading a command. */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
