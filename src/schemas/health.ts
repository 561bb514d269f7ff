/**
 * The health status of one Kubernetes object, as every report, query and activity result names it.
 * @module
 */
import { z } from 'zod';

/**
 * The health of one object (kstatus names, familiar to users of Flux and Helm 4):
 * - `Current`: the object is where its spec says it should be;
 * - `InProgress`: it is getting there (or, with reason `Paused`, deliberately not moving);
 * - `Failed`: it will not get there without a change (crash loop, deadline exceeded, failed Job, …);
 * - `Terminating`: it is being deleted (`metadata.deletionTimestamp` is set);
 * - `NotFound`: it does not exist (the read returned 404; set by the caller that reads it, never by assessment);
 * - `Unknown`: the status could not be determined (read error, Pod phase `Unknown`).
 */
export const HealthStatus = z.enum(['Current', 'InProgress', 'Failed', 'Terminating', 'NotFound', 'Unknown']);
/** One of {@link HealthStatus}. */
export type HealthStatus = z.infer<typeof HealthStatus>;
