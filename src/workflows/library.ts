/**
 * `kube-workflows/workflows`: what your workflow code imports — our workflow functions and their definitions
 * (queries, updates, signals) for typed starts and handles, plus the task helpers ({@link deploy}, {@link scale}, …)
 * that run our operations as children of your workflows.
 *
 * To register our workflows in your own worker's bundle, re-export `kube-workflows/workflows/registry` (exactly our
 * workflow types, nothing else) from your workflows file: every function a workflows file exports becomes a
 * workflow type, and the helpers here are not workflows.
 * @module
 */
export * from './index.js';
export * from './tasks.js';
