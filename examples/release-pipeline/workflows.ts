/**
 * The workflows file of the release worker: kube-workflows' own workflow types (one bundle with yours, so the
 * operations run on this worker, with its credentials) and the pipeline.
 */
export * from 'kube-workflows/workflows/registry';
export { approveRelease, releasePipeline, releaseStepsQuery } from './release.js';
