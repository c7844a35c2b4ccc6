/** Must match `name`/`version` in package.json and dcv_widget.__version__ (a unit test checks). */
export const MODULE_NAME = 'dcv-widget';
export const MODULE_VERSION = '0.1.0';
