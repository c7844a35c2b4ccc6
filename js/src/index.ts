export * from './version';
export * from './widget';
